# f-DPG loss against PyTorch: check_fdpg_torch runs tests/fdpg_torch_ref.py
# with Debian's python3-torch, which writes seeded packed batches for every
# divergence and the pseudo-rewards, loss and d loss / d logp it computes in
# float64 (f' by autograd of f); the checker runs fdpg_coefs + fdpg_loss on
# the same inputs and compares. Skipped (77) when PYTHON_TORCH cannot import
# torch.
add_test(NAME fdpg_torch
  COMMAND check_fdpg_torch ${PYTHON_TORCH} ${CMAKE_CURRENT_SOURCE_DIR}/fdpg_torch_ref.py ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(fdpg_torch PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120)
