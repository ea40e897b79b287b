# Datasets, tasks, SFT and eval from the command line: tests/data_cli.sh
# drives build/thinkrl (data gen determinism, data check on malformed lines,
# sft with overrides, unknown keys, stop + resume, eval --json).
add_test(NAME data_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/data_cli.sh $<TARGET_FILE:thinkrl>
         ${PYTHON_TORCH} ${CMAKE_CURRENT_BINARY_DIR})
