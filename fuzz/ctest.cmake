# Included by tests/CMakeLists.txt: registers one ctest per fuzz/*_fuzz.cc that runs the fuzzer
# built in ${CMAKE_BINARY_DIR}-fuzz (scripts/test.sh builds it there) for a bounded time, starting
# from the seed corpus fuzz/corpus/<name>/. A fuzzer that was not built is reported as skipped.
set(MIGDRA_FUZZ_SECONDS 20 CACHE STRING "Seconds each fuzzer runs in ctest")
file(GLOB migdra_fuzzers CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/fuzz/*_fuzz.cc)
foreach(fuzzer_source ${migdra_fuzzers})
  get_filename_component(name ${fuzzer_source} NAME_WE)
  add_test(NAME fuzz.${name}
           COMMAND bash ${CMAKE_SOURCE_DIR}/fuzz/run_fuzzer.sh ${CMAKE_BINARY_DIR}-fuzz/${name}
                   ${CMAKE_SOURCE_DIR}/fuzz/corpus/${name} ${CMAKE_BINARY_DIR}/fuzz-corpus/${name}
                   ${MIGDRA_FUZZ_SECONDS})
  set_tests_properties(fuzz.${name} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
endforeach()
