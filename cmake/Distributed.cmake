# c10d, PyTorch's distributed engine, for the train layer only (src/mmfuse/train/distributed.cpp).
# LibTorch's own targets carry USE_DISTRIBUTED and USE_C10D_GLOO (and USE_C10D_NCCL in CUDA builds)
# when it was built with them; mmfuse compiles its c10d code when that is so and the headers are
# there (Debian: libtorch-dev with libgloo-dev): MMFUSE_WITH_GLOO, MMFUSE_WITH_NCCL.
# Without them, world_size > 1 throws at run time and single-process training is unchanged.
set(_torch_defs)
foreach(_t torch_cpu torch_cuda)
  if(TARGET ${_t})
    get_target_property(_d ${_t} INTERFACE_COMPILE_DEFINITIONS)
    if(_d)
      list(APPEND _torch_defs ${_d})
    endif()
  endif()
endforeach()
find_path(MMFUSE_C10D_INCLUDE_DIR torch/csrc/distributed/c10d/ProcessGroupGloo.hpp
          HINTS ${TORCH_INCLUDE_DIRS})
find_path(GLOO_INCLUDE_DIR gloo/context.h HINTS ${TORCH_INCLUDE_DIRS})
find_library(GLOO_LIBRARY gloo HINTS ${TORCH_INSTALL_PREFIX}/lib)
find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${TORCH_INCLUDE_DIRS} ENV CUDA_HOME PATH_SUFFIXES include)

function(mmfuse_use_c10d target)
  if("USE_C10D_GLOO" IN_LIST _torch_defs AND MMFUSE_C10D_INCLUDE_DIR AND GLOO_INCLUDE_DIR)
    target_compile_definitions(${target} PRIVATE MMFUSE_WITH_GLOO)
    target_include_directories(${target} PRIVATE ${GLOO_INCLUDE_DIR})
    if(GLOO_LIBRARY)
      target_link_libraries(${target} PUBLIC ${GLOO_LIBRARY})
    endif()
    message(STATUS "mmfuse: data-parallel training on c10d Gloo")
  else()
    message(STATUS "mmfuse: LibTorch without c10d Gloo (or no gloo headers): single process only")
  endif()
  if("USE_C10D_NCCL" IN_LIST _torch_defs AND NCCL_INCLUDE_DIR AND
     EXISTS ${MMFUSE_C10D_INCLUDE_DIR}/torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp)
    target_compile_definitions(${target} PRIVATE MMFUSE_WITH_NCCL)
    target_include_directories(${target} PRIVATE ${NCCL_INCLUDE_DIR})
    message(STATUS "mmfuse: data-parallel training on c10d NCCL for CUDA tensors")
  endif()
endfunction()
