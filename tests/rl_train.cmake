# The RL trainer through the CLI. rl_base (fixture) trains a tiny base model
# in seconds; rl_cli checks errors, run files, metric names and exact resume;
# rl_presets runs every configs/rl_*_arith.yaml on it and requires the
# reward to rise.
# THINKRL_FIXTURE_FROM (set by `make test SAN=1`): a release build's tests
# directory whose rl_base model the sanitizer build copies instead of
# training its own (SFT under the sanitizers is test_sft's job; training the
# fixture there takes minutes).
set(THINKRL_FIXTURE_FROM "" CACHE PATH "tests directory of a build whose rl_base fixture model to reuse")
add_test(NAME rl_base COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/rl_base.sh $<TARGET_FILE:thinkrl> ${CMAKE_CURRENT_BINARY_DIR}
         ${THINKRL_FIXTURE_FROM})
set_tests_properties(rl_base PROPERTIES FIXTURES_SETUP rl_base TIMEOUT 600)
add_test(NAME rl_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/rl_cli.sh $<TARGET_FILE:thinkrl> ${PYTHON_TORCH}
         ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(rl_cli PROPERTIES FIXTURES_REQUIRED rl_base TIMEOUT 600)
add_test(NAME rl_presets COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/rl_presets.sh $<TARGET_FILE:thinkrl> ${PYTHON_TORCH}
         ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(rl_presets PROPERTIES FIXTURES_REQUIRED rl_base TIMEOUT 900)
add_test(NAME rl_fdpg COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/rl_fdpg.sh $<TARGET_FILE:thinkrl> ${PYTHON_TORCH}
         ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(rl_fdpg PROPERTIES FIXTURES_REQUIRED rl_base TIMEOUT 900)
# crash safety: 20 SIGKILLs at random moments, each run resumed to the end
add_test(NAME rl_kill COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/rl_kill.sh $<TARGET_FILE:thinkrl> ${PYTHON_TORCH}
         ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(rl_kill PROPERTIES FIXTURES_REQUIRED rl_base TIMEOUT 900)
