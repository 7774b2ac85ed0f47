// Links against the installed library and uses it: parse a URL and print its redacted form.
#include <connmgr/error.hpp>

#include <iostream>

int main() {
    const auto code = connmgr::make_error_code(connmgr::errc::acquire_timeout);
    std::cout << connmgr::to_string(connmgr::errc::acquire_timeout) << ": " << code.message()
              << '\n';
    return code ? 0 : 1;
}
