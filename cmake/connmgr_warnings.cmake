# The one place our warning flags live; applied to our own targets only.
option(CONNMGR_WERROR "Treat warnings as errors" OFF)

function(connmgr_set_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wconversion -Wshadow -Wnon-virtual-dtor -Woverloaded-virtual
    $<$<CXX_COMPILER_ID:GNU>:-Wno-tsan>
    $<$<BOOL:${CONNMGR_WERROR}>:-Werror>)
endfunction()
