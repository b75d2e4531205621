# Run by ctest before the tests (a TEST_INCLUDE_FILES script; tests/CMakeLists.txt sets
# CONFORMANCE_EXE and CONFORMANCE_FILTER): one ctest test per registered item of a conformance
# suite, running all of that item's properties in one process, e.g.
#   AllFusions/FusionConformance/concat_2mod -> --gtest_filter=AllFusions/FusionConformance.*/concat_2mod
# A process costs ~0.7 s before its first test (LibTorch's static initialisation), and the
# conformance suites hold ~450 properties of well under a second each. A failure still names the
# registered item, and the output the property.
execute_process(
  COMMAND "${CONFORMANCE_EXE}" --gtest_list_tests "--gtest_filter=${CONFORMANCE_FILTER}"
  OUTPUT_VARIABLE listing
  RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  add_test(conformance_listing_failed "${CONFORMANCE_EXE}" --gtest_list_tests)
  return()
endif()
string(REPLACE "\n" ";" lines "${listing}")
set(suite "")
set(groups "")
foreach(line IN LISTS lines)
  if(line MATCHES "^([A-Za-z0-9_/]+)\\.$")
    set(suite "${CMAKE_MATCH_1}")
  elseif(suite AND line MATCHES "^  [A-Za-z0-9_]+/([A-Za-z0-9_]+)")
    set(group "${suite}/${CMAKE_MATCH_1}")
    list(FIND groups "${group}" seen)
    if(seen EQUAL -1)
      list(APPEND groups "${group}")
      add_test("${group}" "${CONFORMANCE_EXE}" "--gtest_filter=${suite}.*/${CMAKE_MATCH_1}")
      set_tests_properties("${group}" PROPERTIES ENVIRONMENT "OMP_NUM_THREADS=1")
    endif()
  endif()
endforeach()
