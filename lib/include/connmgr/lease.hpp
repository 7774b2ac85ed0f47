#pragma once
/// lease<Driver>: the RAII borrow of one pooled connection.
///
/// `*l` and `l->` reach the driver's connection (`pqxx::connection&` for the sync PostgreSQL
/// driver). The destructor gives the connection back: the pool asks the driver whether it can be
/// reused (`reset()`, `is_broken()`), and closes it otherwise. `mark_broken()` makes the pool
/// close it instead. A lease keeps the pool's core alive, so it may outlive the pool object; once
/// the pool is closed, returned connections are closed.
///
/// \par Thread safety
/// A lease is used by one thread at a time; it may be moved to and destroyed on any thread.

#include <connmgr/detail/lease_owner.hpp>

#include <memory>
#include <string_view>
#include <utility>

namespace connmgr {

template <class Driver>
class lease {
public:
    using connection_type = typename Driver::connection;

    /// An empty lease (holds nothing); `bool(l)` is false.
    lease() noexcept = default;

    /// Used by the pools.
    lease(std::shared_ptr<detail::lease_owner<connection_type>> owner, connection_type* c,
          void* token) noexcept
        : owner_(std::move(owner)), conn_(c), token_(token) {}

    lease(lease&& other) noexcept
        : owner_(std::move(other.owner_)),
          conn_(std::exchange(other.conn_, nullptr)),
          token_(std::exchange(other.token_, nullptr)),
          broken_(std::exchange(other.broken_, false)) {}

    lease& operator=(lease&& other) noexcept {
        if (this != &other) {
            release();
            owner_ = std::move(other.owner_);
            conn_ = std::exchange(other.conn_, nullptr);
            token_ = std::exchange(other.token_, nullptr);
            broken_ = std::exchange(other.broken_, false);
        }
        return *this;
    }

    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;

    ~lease() { release(); }

    connection_type& operator*() const noexcept { return *conn_; }
    connection_type* operator->() const noexcept { return conn_; }
    connection_type* get() const noexcept { return conn_; }
    explicit operator bool() const noexcept { return conn_ != nullptr; }

    /// The pool will close the connection instead of reusing it.
    void mark_broken() noexcept { broken_ = true; }
    bool broken() const noexcept { return broken_; }

    /// The store name given at acquire ("" if none).
    std::string_view holder() const noexcept {
        return owner_ ? owner_->holder(token_) : std::string_view{};
    }

    /// Gives the connection back now (the destructor does it otherwise).
    void release() noexcept {
        if (owner_) {
            owner_->give_back(token_, broken_);
            owner_.reset();
            conn_ = nullptr;
            token_ = nullptr;
            broken_ = false;
        }
    }

private:
    std::shared_ptr<detail::lease_owner<connection_type>> owner_;
    connection_type* conn_{nullptr};
    void* token_{nullptr};
    bool broken_{false};
};

}  // namespace connmgr
