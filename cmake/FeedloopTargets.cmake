# Helpers that give every feedloop target the same warnings and sanitizer
# settings, without touching the flags of the Debian packages we link.

set(FEEDLOOP_WARNINGS -Wall -Wextra -Wpedantic -Wno-unused-parameter
    -Wno-missing-field-initializers)
if(FEEDLOOP_WERROR)
  list(APPEND FEEDLOOP_WARNINGS -Werror)
endif()

set(FEEDLOOP_SANITIZE_FLAGS "")
if(FEEDLOOP_SANITIZE STREQUAL "thread")
  # Builds, but Debian's libabsl is not TSAN-instrumented: absl::Mutex is
  # invisible to TSAN and every guarded member shows as a race.
  set(FEEDLOOP_SANITIZE_FLAGS -fsanitize=thread)
elseif(FEEDLOOP_SANITIZE STREQUAL "address")
  set(FEEDLOOP_SANITIZE_FLAGS -fsanitize=address,undefined -fno-omit-frame-pointer)
elseif(NOT FEEDLOOP_SANITIZE STREQUAL "")
  message(FATAL_ERROR "FEEDLOOP_SANITIZE must be '', 'thread' or 'address'")
endif()
if(FEEDLOOP_SANITIZE_FLAGS)
  add_compile_options(${FEEDLOOP_SANITIZE_FLAGS})
  add_link_options(${FEEDLOOP_SANITIZE_FLAGS})
endif()

function(feedloop_target_options target)
  target_compile_options(${target} PRIVATE ${FEEDLOOP_WARNINGS})
endfunction()

# The layers are enforced by the include path, not by convention: no target
# has the source tree on its include path. A library's headers are linked
# into build/include/<library>/<folder>/, and that directory is its only
# include root, passed on to what links it. So a file sees the headers of
# its own library and of the libraries it links, and an include that
# reaches up a layer (store/ including "loop/...") does not compile
# (tests/layering/). Each library names its headers: the .h of each of its
# .cc files, and header-only ones in HDRS.
function(feedloop_expose_headers target)
  cmake_parse_arguments(ARG "" "" "SRCS;HDRS" ${ARGN})
  file(RELATIVE_PATH folder ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR})
  set(root ${PROJECT_BINARY_DIR}/include/${target})
  file(REMOVE_RECURSE ${root})
  set(headers ${ARG_HDRS})
  foreach(src IN LISTS ARG_SRCS)
    get_filename_component(dir ${src} DIRECTORY)
    get_filename_component(stem ${src} NAME_WE)
    if(dir STREQUAL "" AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${stem}.h)
      list(APPEND headers ${stem}.h)
    endif()
  endforeach()
  foreach(header IN LISTS headers)
    if(NOT EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${header})
      message(FATAL_ERROR "${target}: no header ${folder}/${header}")
    endif()
    file(MAKE_DIRECTORY ${root}/${folder})
    file(CREATE_LINK ${CMAKE_CURRENT_SOURCE_DIR}/${header}
         ${root}/${folder}/${header} SYMBOLIC)
  endforeach()
  target_include_directories(${target} PUBLIC ${root})
endfunction()

# feedloop_library(NAME SRCS ... [HDRS ...] [PUBLIC_DEPS ...] [DEPS ...])
# PUBLIC_DEPS are what the library's headers include (its users see them
# too); DEPS what only its sources use.
function(feedloop_library name)
  cmake_parse_arguments(ARG "" "" "SRCS;HDRS;PUBLIC_DEPS;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SRCS})
  feedloop_target_options(${name})
  feedloop_expose_headers(${name} SRCS ${ARG_SRCS} HDRS ${ARG_HDRS})
  target_link_libraries(${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_DEPS})
endfunction()

# feedloop_executable(NAME SRCS ... [HDRS ...] DEPS ...): a program; its
# own headers (HDRS) are visible to its sources only.
function(feedloop_executable name)
  cmake_parse_arguments(ARG "" "" "SRCS;HDRS;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  feedloop_target_options(${name})
  if(ARG_HDRS)
    feedloop_expose_headers(${name} HDRS ${ARG_HDRS})
  endif()
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
endfunction()

# How test code compiles (issue 21: tests were 54% of a clean build's
# compile time). Line tables only (-g1): a failing test's backtrace and
# gdb's breakpoints keep file and line, but no variable or type info is
# emitted for the gtest and gRPC templates every test instantiates
# (ranker_replicas_test.cc: 20.6 CPU-s with -g, 13.4 with no debug info).
# The libraries and programs keep the build type's full -g. Every test shares one precompiled header
# (testing/CMakeLists.txt), which needs the same flags on both sides.
function(feedloop_test_build_options target)
  target_compile_options(${target} PRIVATE -g1)
endfunction()

# feedloop_test(NAME SRCS ... DEPS ... [LABEL label] [ENVIRONMENT VAR=value])
# A gtest binary registered with ctest, one ctest entry per TEST, under one
# label (default 'unit'). One label only: gtest_discover_tests flattens its
# PROPERTIES, so a second label would be read as a property name.
# Nothing when FEEDLOOP_TESTS is off.
function(feedloop_test name)
  if(NOT FEEDLOOP_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "LABEL;ENVIRONMENT" "SRCS;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  feedloop_target_options(${name})
  feedloop_test_build_options(${name})
  target_precompile_headers(${name} REUSE_FROM feedloop_testing)
  # feedloop_proto for the precompiled header's sake: it must see the same
  # -pthread and the stubs' include root as feedloop_testing, which made it.
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} feedloop_testing feedloop_proto
                        GTest::gtest GTest::gmock GTest::gtest_main)
  set(label unit)
  if(ARG_LABEL)
    set(label ${ARG_LABEL})
  endif()
  set(properties LABELS ${label})
  if(ARG_ENVIRONMENT)
    list(APPEND properties ENVIRONMENT ${ARG_ENVIRONMENT})
  endif()
  gtest_discover_tests(${name}
    PROPERTIES ${properties}
    DISCOVERY_TIMEOUT 60)
endfunction()
