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
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
endfunction()

# feedloop_library(NAME SRCS ... DEPS ...)
function(feedloop_library name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SRCS})
  feedloop_target_options(${name})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

# feedloop_test(NAME SRCS ... DEPS ... [LABEL label])
# A gtest binary registered with ctest, one ctest entry per TEST, under one
# label (default 'unit'). One label only: gtest_discover_tests flattens its
# PROPERTIES, so a second label would be read as a property name.
# Nothing when FEEDLOOP_TESTS is off.
function(feedloop_test name)
  if(NOT FEEDLOOP_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "LABEL" "SRCS;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  feedloop_target_options(${name})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} feedloop_testing
                        GTest::gtest GTest::gmock GTest::gtest_main)
  set(label unit)
  if(ARG_LABEL)
    set(label ${ARG_LABEL})
  endif()
  gtest_discover_tests(${name}
    PROPERTIES LABELS ${label}
    DISCOVERY_TIMEOUT 60)
endfunction()
