# The RL trainer through the CLI. rl_base (fixture) trains a tiny base model
# in seconds; on it, each tests/<name>.sh THINKRL PYTHON WORKDIR:
#   rl_cli      errors, run files, metric names, exact resume, TACO mechanics
#   rl_presets  every configs/rl_*_arith.yaml raises the reward
#   rl_fdpg     f-DPG: errors, metrics, exact resume, each divergence toward p
#   rl_kill     crash safety: 20 SIGKILLs at random moments, each resumed
# THINKRL_FIXTURE_FROM (set by `make test SAN=1`): a release build's tests
# directory whose rl_base model the sanitizer build copies instead of
# training its own (SFT under the sanitizers is test_sft's job; training the
# fixture there takes minutes).
set(THINKRL_FIXTURE_FROM "" CACHE PATH "tests directory of a build whose rl_base fixture model to reuse")
add_test(NAME rl_base COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/rl_base.sh $<TARGET_FILE:thinkrl> ${CMAKE_CURRENT_BINARY_DIR}
         ${THINKRL_FIXTURE_FROM})
set_tests_properties(rl_base PROPERTIES FIXTURES_SETUP rl_base TIMEOUT 600)
foreach(t rl_cli rl_presets rl_fdpg rl_kill)
  add_test(NAME ${t} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/${t}.sh $<TARGET_FILE:thinkrl> ${PYTHON_TORCH}
           ${CMAKE_CURRENT_BINARY_DIR})
  set_tests_properties(${t} PROPERTIES FIXTURES_REQUIRED rl_base TIMEOUT 900)
endforeach()
