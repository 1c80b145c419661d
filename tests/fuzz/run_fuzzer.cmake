# Runs one libFuzzer binary for a fixed time over a writable copy of its seed corpus.
# Called by the fuzz_* CTest tests (see emu_fuzz_target in CMakeLists.txt):
#   cmake -DFUZZER=<exe> -DSEEDS=<dir> -DWORK=<dir> -DARTIFACTS=<dir> -DSECONDS=<n>
#         [-DDICT=<file>] -P run_fuzzer.cmake
foreach(var FUZZER SEEDS WORK ARTIFACTS SECONDS)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_fuzzer.cmake: ${var} is not set")
  endif()
endforeach()

# The seeds live in the source tree, which the fuzzer must not write to: it adds every input
# that finds new coverage to the first corpus directory.
file(MAKE_DIRECTORY ${WORK} ${ARTIFACTS})
if(EXISTS ${SEEDS})
  file(GLOB seeds ${SEEDS}/*)
  if(seeds)
    file(COPY ${seeds} DESTINATION ${WORK})
  endif()
endif()

set(args -max_total_time=${SECONDS} -timeout=25 -rss_limit_mb=2048 -print_final_stats=1
  -artifact_prefix=${ARTIFACTS}/)
if(DEFINED DICT)
  list(APPEND args -dict=${DICT})
endif()

execute_process(COMMAND ${FUZZER} ${args} ${WORK} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${FUZZER} failed (${rc}); crashing inputs are in ${ARTIFACTS}")
endif()
