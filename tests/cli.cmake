# CLI end to end: tests/cli.sh drives build/thinkrl (help texts, init -> info
# -> score compared with PyTorch, bad inputs).
add_test(NAME cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli.sh $<TARGET_FILE:thinkrl>
         ${PYTHON_TORCH} ${CMAKE_CURRENT_BINARY_DIR})
