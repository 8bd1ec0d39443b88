# Unity builds (-DCMAKE_UNITY_BUILD=ON): CMake compiles each target's files in batches, one
# object per batch, so Asio, OpenSSL and Catch2 are parsed once per batch instead of once per
# file. scripts/test.sh builds this way to fit CI's budget (proxy/upstream: 56 s of CPU as
# single files, 26 s as one batch). Developers build file by file (the default), which keeps
# each file honest about what it includes. What a unity build asks of the code:
# - names in an anonymous namespace are unique within their target (two files' helpers
#   called parse() collide in one batch);
# - a file that configures a library before including it (#define CATCH_CONFIG_RUNNER) is
#   compiled alone; tlsrelay_unity_exclusions() finds those files by that line.

function(tlsrelay_collect_targets dir out)
  get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(sub IN LISTS subdirs)
    tlsrelay_collect_targets(${sub} more)
    list(APPEND targets ${more})
  endforeach()
  set(${out} ${targets} PARENT_SCOPE)
endfunction()

function(tlsrelay_unity_exclusions)
  if(NOT CMAKE_UNITY_BUILD)
    return()
  endif()
  tlsrelay_collect_targets(${PROJECT_SOURCE_DIR} targets)
  foreach(t IN LISTS targets)
    get_target_property(type ${t} TYPE)
    if(NOT type MATCHES "^(STATIC_LIBRARY|EXECUTABLE|OBJECT_LIBRARY|SHARED_LIBRARY)$")
      continue()
    endif()
    get_target_property(sources ${t} SOURCES)
    get_target_property(source_dir ${t} SOURCE_DIR)
    foreach(s IN LISTS sources)
      if(NOT s MATCHES "\\.cpp$")
        continue()
      endif()
      if(IS_ABSOLUTE ${s})
        set(path ${s})
      else()
        set(path ${source_dir}/${s})
      endif()
      if(EXISTS ${path})
        file(STRINGS ${path} defines REGEX "^#define CATCH_CONFIG_")
        if(defines)
          set_source_files_properties(${s} DIRECTORY ${source_dir}
            PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
        endif()
      endif()
    endforeach()
  endforeach()
endfunction()
