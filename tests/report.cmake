# Run report end to end: tests/report_chromium.sh drives build/thinkrl report
# on a synthetic run and renders the HTML in headless Chromium (DOM dump: the
# chart paths survive parsing; screenshot: the lines are drawn in their
# colours). Fails, with a pointer to `make deps`, when chromium is missing.
add_test(NAME report_chromium COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/report_chromium.sh
         $<TARGET_FILE:thinkrl> ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(report_chromium PROPERTIES TIMEOUT 300)
