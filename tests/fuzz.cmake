# Replays the fuzz inputs in every build (release, SAN=1), without clang or
# libFuzzer: each fuzz/fuzz_<t>.c is linked with fuzz/replay_main.c into
# replay_<t>, and the test fuzz_replay_<t> runs it once over the seed corpus
# fuzz/corpus/<t> and the crash regressions fuzz/regress/<t>. A crash, a
# failed check or (under SAN=1) a sanitizer report, leaks included, fails
# the test. Fuzzing itself is `make fuzz` (scripts/fuzz.sh, fuzz/CMakeLists.txt).
set(FUZZ_DIR ${CMAKE_SOURCE_DIR}/fuzz)
file(GLOB FUZZ_TARGET_SOURCES CONFIGURE_DEPENDS ${FUZZ_DIR}/fuzz_*.c)
foreach(src ${FUZZ_TARGET_SOURCES})
  get_filename_component(name ${src} NAME_WE)
  string(REGEX REPLACE "^fuzz_" "" t ${name})
  add_executable(replay_${t} ${src} ${FUZZ_DIR}/replay_main.c)
  target_include_directories(replay_${t} PRIVATE ${CMAKE_SOURCE_DIR}/src ${FUZZ_DIR})
  target_link_libraries(replay_${t} PRIVATE thinkrl_lib)
  add_test(NAME fuzz_replay_${t} COMMAND replay_${t} ${FUZZ_DIR}/corpus/${t} ${FUZZ_DIR}/regress/${t})
  set_tests_properties(fuzz_replay_${t} PROPERTIES TIMEOUT 300 LABELS fuzz)
endforeach()
