# Model tests against PyTorch: tests/torch_ref.py computes logits, losses and
# gradients in float64 with Debian's python3-torch; check_model_torch compares.
foreach(case qwen2-leftpad qwen2-packed qwen2-mask llama-leftpad llama-packed)
  set(extra "")
  if(case STREQUAL "qwen2-packed" OR case STREQUAL "llama-leftpad")
    set(extra adamw)
  endif()
  add_test(NAME model_torch_${case}
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/torch_check.sh ${PYTHON_TORCH}
            $<TARGET_FILE:check_model_torch> ${case} ${CMAKE_CURRENT_BINARY_DIR} ${extra})
endforeach()
