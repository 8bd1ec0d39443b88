# tlsrelay_layer(TARGET ROOM ALLOWED...): TARGET's folder ROOM may include our headers only
# from its own folder and the ALLOWED ones; the check runs before TARGET is compiled, so a
# wrong-way include fails the build with the file and the include named.
function(tlsrelay_layer target room)
  set(allowed "")
  foreach(dir IN LISTS ARGN)
    list(APPEND allowed "${dir}/")
  endforeach()
  string(REPLACE "/" "_" name "${room}")
  set(stamp "${CMAKE_BINARY_DIR}/layers/${name}.ok")
  file(GLOB sources CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/${room}/*.cpp"
       "${PROJECT_SOURCE_DIR}/${room}/*.hpp")
  add_custom_command(
    OUTPUT "${stamp}"
    COMMAND ${CMAKE_COMMAND} -DSOURCE_ROOT=${PROJECT_SOURCE_DIR} -DROOM=${room}
            "-DALLOWED=${allowed}" -DSTAMP=${stamp} -P ${PROJECT_SOURCE_DIR}/cmake/check_includes.cmake
    DEPENDS ${sources} ${PROJECT_SOURCE_DIR}/cmake/check_includes.cmake
    COMMENT "Checking the includes of ${room}/"
    VERBATIM)
  add_custom_target(layers_${name} DEPENDS "${stamp}")
  add_dependencies(${target} layers_${name})
endfunction()
