# The libraries libthinkrl links, found the same way by the main build and
# by the fuzz build (fuzz/CMakeLists.txt). Defines thinkrl_use_deps(target).
find_package(OpenMP REQUIRED)

# OpenBLAS: prefer the OpenMP build so BLAS and our kernels share one thread
# pool (the pthread build spins its own threads against ours on 2 cores).
find_path(OPENBLAS_INC cblas.h
  PATHS /usr/include/x86_64-linux-gnu/openblas-openmp /usr/include/openblas
        /usr/include/x86_64-linux-gnu/openblas-pthread /usr/include NO_DEFAULT_PATH)
find_library(OPENBLAS_LIB NAMES openblas
  PATHS /usr/lib/x86_64-linux-gnu/openblas-openmp /usr/lib/x86_64-linux-gnu/openblas-pthread
        /usr/lib/x86_64-linux-gnu /usr/lib NO_DEFAULT_PATH)
find_path(CJSON_INC cJSON.h PATH_SUFFIXES cjson)
find_library(CJSON_LIB cjson)
find_path(YAML_INC yaml.h)
find_library(YAML_LIB yaml)
find_path(PCRE2_INC pcre2.h)
find_library(PCRE2_LIB pcre2-8)
foreach(v OPENBLAS_INC OPENBLAS_LIB CJSON_INC CJSON_LIB YAML_INC YAML_LIB PCRE2_INC PCRE2_LIB)
  if(NOT ${v})
    message(FATAL_ERROR "${v} not found: run 'make deps' (Debian: libopenblas-openmp-dev, libcjson-dev, libyaml-dev, libpcre2-dev)")
  endif()
endforeach()
get_filename_component(OPENBLAS_DIR ${OPENBLAS_LIB} DIRECTORY)
set(CMAKE_BUILD_RPATH ${OPENBLAS_DIR})
set(CMAKE_INSTALL_RPATH ${OPENBLAS_DIR})

function(thinkrl_use_deps target)
  target_include_directories(${target} SYSTEM PUBLIC ${OPENBLAS_INC} ${CJSON_INC} ${YAML_INC} ${PCRE2_INC})
  target_link_libraries(${target} PUBLIC ${OPENBLAS_LIB} ${CJSON_LIB} ${YAML_LIB} ${PCRE2_LIB} OpenMP::OpenMP_C m)
endfunction()
