#pragma once
/// A named consumer's claim on a database (`manager::attach`): stats list the store names, and
/// a database configured with `close_when_unreferenced: true` closes its pools when its last
/// reference goes.
///
/// \par Thread safety
/// One store_ref is used by one thread at a time; different ones are independent. It may
/// outlive its manager (release then does nothing).

#include <cstdint>
#include <memory>
#include <string>

namespace connmgr {

namespace detail {
class manager_impl;
}

class store_ref {
public:
    store_ref() = default;
    store_ref(const store_ref&) = delete;
    store_ref& operator=(const store_ref&) = delete;
    store_ref(store_ref&& other) noexcept;
    store_ref& operator=(store_ref&& other) noexcept;
    /// Detaches; with close_when_unreferenced this may wait up to the database's drain_timeout.
    ~store_ref();

    /// Detaches now (idempotent). With close_when_unreferenced and no reference left, closes
    /// the database's pools, waiting up to its drain_timeout for leases to come back.
    void release() noexcept;

    bool attached() const noexcept { return id_ != 0; }
    const std::string& store() const noexcept { return store_; }
    const std::string& database() const noexcept { return database_; }

private:
    friend class detail::manager_impl;
    store_ref(std::weak_ptr<detail::manager_impl> owner, std::uint64_t id, std::string store,
              std::string database)
        : owner_(std::move(owner)),
          id_(id),
          store_(std::move(store)),
          database_(std::move(database)) {}

    std::weak_ptr<detail::manager_impl> owner_;
    std::uint64_t id_{0};
    std::string store_;
    std::string database_;
};

}  // namespace connmgr
