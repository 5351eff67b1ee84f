# Run after pretext_unit_tests is linked (cmake -P): lists its tests and writes OUTPUT, a CTest
# file with one test per test suite (--gtest_filter=Suite.*), labelled LABEL. A suite whose
# TESTs all skip themselves (CUDA without a GPU) passes; its output lists them as SKIPPED.
# Inputs: TEST_EXECUTABLE, OUTPUT, LABEL.
execute_process(COMMAND "${TEST_EXECUTABLE}" --gtest_list_tests OUTPUT_VARIABLE listing RESULT_VARIABLE status
                ERROR_VARIABLE errors)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "${TEST_EXECUTABLE} --gtest_list_tests failed (${status}): ${errors}")
endif()
string(REPLACE "\n" ";" lines "${listing}")
set(content "# Written by unit_suites.cmake from ${TEST_EXECUTABLE} --gtest_list_tests.\n")
set(count 0)
foreach(line IN LISTS lines)
  # Suite lines start in column 0 and end with a dot ("Suite." or "Suite.  # TypeParam = …").
  if(line MATCHES "^([A-Za-z0-9_/]+)\\.")
    set(suite "${CMAKE_MATCH_1}")
    string(APPEND content
           "add_test([==[${suite}]==] [==[${TEST_EXECUTABLE}]==] [==[--gtest_filter=${suite}.*]==])\n"
           "set_tests_properties([==[${suite}]==] PROPERTIES LABELS ${LABEL})\n")
    math(EXPR count "${count} + 1")
  endif()
endforeach()
if(count EQUAL 0)
  message(FATAL_ERROR "${TEST_EXECUTABLE} lists no tests")
endif()
file(WRITE "${OUTPUT}.tmp" "${content}")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
