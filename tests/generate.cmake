# Generation CLI end to end: tests/generate_cli.sh drives `thinkrl generate`
# on a fixture (tiny model + byte-level tokenizer written by
# generate_fixture): JSON output, parity with `thinkrl score`, seeds and
# threads, every stop condition, prompt files, chat, and bad inputs.
add_executable(generate_fixture ${CMAKE_CURRENT_SOURCE_DIR}/generate_fixture.c)
target_link_libraries(generate_fixture PRIVATE thinkrl_lib)
add_test(NAME generate_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/generate_cli.sh $<TARGET_FILE:thinkrl>
         $<TARGET_FILE:generate_fixture> ${PYTHON_TORCH} ${CMAKE_CURRENT_BINARY_DIR})
