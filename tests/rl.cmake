# RL math core against PyTorch: check_rl_torch (C) writes seeded batches and
# its advantages, losses and gradients as JSON, then runs tests/rl_torch_ref.py
# with Debian's python3-torch, which recomputes them in float64 with autograd.
# Skipped (77) when PYTHON_TORCH cannot import torch.
add_test(NAME rl_torch
  COMMAND check_rl_torch ${PYTHON_TORCH} ${CMAKE_CURRENT_SOURCE_DIR}/rl_torch_ref.py ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(rl_torch PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120)
