#include "resolve.hpp"

#include <connmgr/error.hpp>

#include <boost/algorithm/string/join.hpp>
#include <boost/algorithm/string/split.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <memory>
#include <vector>

namespace connmgr::pg::detail {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

std::vector<std::string> split_list(const std::string& s) {
    std::vector<std::string> out;
    boost::split(out, s, [](char c) { return c == ','; });
    return out;
}

std::string* find_param(conn_params& params, std::string_view key) {
    for (auto& [k, v] : params)
        if (k == key) return &v;
    return nullptr;
}

bool is_socket_dir(const std::string& host) {
    return host.empty() || host.front() == '/' || host.front() == '@';
}

bool needs_lookup(const std::string& host) {
    if (is_socket_dir(host)) return false;
    error_code ec;
    (void)asio::ip::make_address(host, ec);
    return static_cast<bool>(ec);
}

class resolve_op : public std::enable_shared_from_this<resolve_op> {
public:
    resolve_op(asio::any_io_executor ex, conn_params params, resolved_handler done)
        : resolver_(ex), timer_(ex), params_(std::move(params)), done_(std::move(done)) {}

    void start(std::vector<std::string> hosts, std::vector<std::string> ports,
               steady_time deadline) {
        hosts_ = std::move(hosts);
        ports_ = std::move(ports);
        auto self = shared_from_this();
        timer_.expires_at(deadline);
        timer_.async_wait([self](error_code ec) {
            if (ec || !self->done_) return;
            self->timed_out_ = true;
            self->resolver_.cancel();
        });
        next();
    }

private:
    void next() {
        if (index_ == hosts_.size()) return finish({}, {});
        const std::string& host = hosts_[index_];
        if (!needs_lookup(host)) {
            add(host, is_socket_dir(host) ? "" : host);  // "": libpq uses the socket directory
            ++index_;
            return next();
        }
        resolver_.async_resolve(host, "",
                                [self = shared_from_this()](
                                    error_code ec, asio::ip::tcp::resolver::results_type results) {
                                    const std::string& name = self->hosts_[self->index_];
                                    if (ec || results.empty())
                                        return self->finish(make_error_code(errc::connect_failed),
                                                            "could not translate host name \"" +
                                                                name + "\" to address: " +
                                                                (self->timed_out_ ? "timed out"
                                                                 : ec             ? ec.message()
                                                                                  : "no address"));
                                    for (const auto& r : results)
                                        self->add(name, r.endpoint().address().to_string());
                                    ++self->index_;
                                    self->next();
                                });
    }

    void add(const std::string& host, const std::string& address) {
        out_hosts_.push_back(host);
        out_addresses_.push_back(address);
        if (ports_.size() > 1) out_ports_.push_back(index_ < ports_.size() ? ports_[index_] : "");
    }

    void finish(error_code ec, std::string message) {
        if (!done_) return;
        auto done = std::move(done_);
        done_ = nullptr;
        timer_.cancel();
        if (!ec) {
            *find_param(params_, "host") = boost::join(out_hosts_, ",");
            params_.emplace_back("hostaddr", boost::join(out_addresses_, ","));
            if (ports_.size() > 1) *find_param(params_, "port") = boost::join(out_ports_, ",");
        }
        done(ec, std::move(message), std::move(params_));
    }

    asio::ip::tcp::resolver resolver_;
    asio::steady_timer timer_;
    conn_params params_;
    resolved_handler done_;
    std::vector<std::string> hosts_;
    std::vector<std::string> ports_;
    std::size_t index_{0};
    bool timed_out_{false};
    std::vector<std::string> out_hosts_;
    std::vector<std::string> out_addresses_;
    std::vector<std::string> out_ports_;
};

}  // namespace

void async_resolve_hosts(asio::any_io_executor ex, conn_params params, steady_time deadline,
                         resolved_handler done) {
    const std::string* host = find_param(params, "host");
    bool lookup = host != nullptr && find_param(params, "hostaddr") == nullptr;
    std::vector<std::string> hosts;
    if (lookup) {
        hosts = split_list(*host);
        lookup = std::any_of(hosts.begin(), hosts.end(), needs_lookup);
    }
    if (!lookup) {
        asio::post(ex, [done = std::move(done), params = std::move(params)]() mutable {
            done({}, {}, std::move(params));
        });
        return;
    }
    std::vector<std::string> ports;
    if (const std::string* port = find_param(params, "port")) ports = split_list(*port);
    auto op = std::make_shared<resolve_op>(ex, std::move(params), std::move(done));
    op->start(std::move(hosts), std::move(ports), deadline);
}

}  // namespace connmgr::pg::detail
