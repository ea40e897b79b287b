# safetensors interop with PyTorch: check_st_roundtrip (C) writes F32/BF16/I32
# files that tests/st_torch_roundtrip.py checks with torch, then compares the
# F32/F16/BF16/F64/I64/BOOL file torch writes back. Skipped (77) without torch.
add_test(NAME safetensors_torch_roundtrip
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/st_roundtrip.sh $<TARGET_FILE:check_st_roundtrip>
          ${PYTHON_TORCH} ${CMAKE_CURRENT_SOURCE_DIR}/st_torch_roundtrip.py)
set_tests_properties(safetensors_torch_roundtrip PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
