# Write OUT, a header defining QZ_REVISION: `git describe --always --dirty` of the
# source tree SRC, or "unknown" when git is missing or SRC is not a git checkout.
# Run at every build (cmake -P); the header is rewritten only when the revision
# changes, so nothing recompiles otherwise.
set(rev "unknown")
if(GIT)
  execute_process(COMMAND "${GIT}" -C "${SRC}" describe --always --dirty
    OUTPUT_VARIABLE out RESULT_VARIABLE res ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(res EQUAL 0 AND NOT out STREQUAL "")
    string(REGEX REPLACE "[^A-Za-z0-9._+-]" "_" rev "${out}")
  endif()
endif()
set(text "#define QZ_REVISION \"${rev}\"\n")
set(old "")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT old STREQUAL text)
  file(WRITE "${OUT}" "${text}")
endif()
