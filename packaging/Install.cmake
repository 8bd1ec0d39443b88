# packaging/Install.cmake: what `cmake --install` and the Debian package put where.
# Included at the end of the top CMakeLists.txt.
#
#   cmake --install BUILD [--prefix /usr]      binaries, man pages, units, docs; the config
#                                              in /etc/tlsrelay, never over an existing one
#   cpack --config BUILD/CPackConfig.cmake     (or `ninja -C BUILD package`) the .deb
#
# The configuration lives in /etc/tlsrelay whatever the prefix: the units, the man pages
# and the README all name /etc/tlsrelay/tlsrelay.toml. The units' ExecStart paths follow
# the prefix in effect at install time (/usr in the package).
include(GNUInstallDirs)

set(TLSRELAY_PACKAGING_DIR ${CMAKE_CURRENT_LIST_DIR})
set(TLSRELAY_CONFIG_DIR /etc/tlsrelay)

# ---- binaries -----------------------------------------------------------------------------
install(TARGETS tlsrelay RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
if(TARGET tlsrelay-milter)
  install(TARGETS tlsrelay-milter RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
endif()

# ---- the configuration: installed once, never overwritten ------------------------------
# An admin's edited file survives `cmake --install`; the package marks it a conffile, so
# dpkg keeps it too. The example always goes to the docs.
install(CODE "
  set(_conf \"\$ENV{DESTDIR}${TLSRELAY_CONFIG_DIR}/tlsrelay.toml\")
  if(EXISTS \"\${_conf}\")
    message(STATUS \"Keeping existing: \${_conf}\")
  else()
    file(INSTALL \"${PROJECT_SOURCE_DIR}/examples/tlsrelay.toml\"
         DESTINATION \"${TLSRELAY_CONFIG_DIR}\"
         PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  endif()
")
install(FILES ${PROJECT_SOURCE_DIR}/examples/tlsrelay.toml
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(FILES ${TLSRELAY_PACKAGING_DIR}/tlsrelay.logrotate
        DESTINATION /etc/logrotate.d RENAME tlsrelay)

# ---- systemd units ----------------------------------------------------------------------
# The sources name /usr/...; for another prefix the paths are rewritten as they are
# installed, so a unit never points at a binary that is not there.
set(_units tlsrelay.service)
if(TARGET tlsrelay-milter)
  list(APPEND _units tlsrelay-milter.service)
endif()
foreach(_unit IN LISTS _units)
  install(CODE "
    file(READ \"${TLSRELAY_PACKAGING_DIR}/${_unit}\" _text)
    if(NOT CMAKE_INSTALL_PREFIX STREQUAL \"/usr\")
      string(REPLACE \"/usr/\" \"\${CMAKE_INSTALL_PREFIX}/\" _text \"\${_text}\")
    endif()
    file(WRITE \"${CMAKE_BINARY_DIR}/packaging/units/${_unit}\" \"\${_text}\")
    file(INSTALL \"${CMAKE_BINARY_DIR}/packaging/units/${_unit}\"
         DESTINATION \"\${CMAKE_INSTALL_PREFIX}/lib/systemd/system\"
         PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  ")
endforeach()

# ---- man pages, generated from packaging/man/*.md (and docs/configuration.md) ------------
find_program(TLSRELAY_PERL perl)
find_program(TLSRELAY_GZIP gzip)
if(TLSRELAY_PERL AND TLSRELAY_GZIP)
  set(_pages tlsrelay.8 tlsrelay.toml.5)
  if(TARGET tlsrelay-milter)
    list(APPEND _pages tlsrelay-milter.8)
  endif()
  set(_man_outputs)
  foreach(_page IN LISTS _pages)
    string(REGEX MATCH "[0-9]$" _section ${_page})
    set(_out ${CMAKE_BINARY_DIR}/packaging/man/${_page})
    set(_deps ${TLSRELAY_PACKAGING_DIR}/man/${_page}.md ${TLSRELAY_PACKAGING_DIR}/man/md2man.pl)
    if(_page STREQUAL "tlsrelay.toml.5")
      list(APPEND _deps ${PROJECT_SOURCE_DIR}/docs/configuration.md)
    endif()
    add_custom_command(
      OUTPUT ${_out}.gz
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/packaging/man
      COMMAND ${TLSRELAY_PERL} ${TLSRELAY_PACKAGING_DIR}/man/md2man.pl
              ${TLSRELAY_PACKAGING_DIR}/man/${_page}.md ${PROJECT_VERSION} > ${_out}
      COMMAND ${TLSRELAY_GZIP} -9nf ${_out}
      DEPENDS ${_deps}
      COMMENT "Generating man page ${_page}"
      VERBATIM)
    list(APPEND _man_outputs ${_out}.gz)
    install(FILES ${_out}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man${_section})
  endforeach()
  add_custom_target(tlsrelay_man ALL DEPENDS ${_man_outputs})
else()
  message(WARNING "perl or gzip not found: the man pages are not built or installed")
endif()

# ---- documentation ----------------------------------------------------------------------
# Laid out as in the source tree (README.md, docs/, examples/), so that the links between
# them work where they are installed; tests/docs/check_links.sh checks both trees.
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs)

# ---- the Debian package -------------------------------------------------------------------
set(TLSRELAY_PACKAGE_MAINTAINER "tlsrelay maintainers <tlsrelay@localhost>"
    CACHE STRING "Maintainer field of the Debian package")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tlsrelay)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "tlsrelay")
set(CPACK_PACKAGE_CONTACT "${TLSRELAY_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "SMTP relay that owns the upstream TLS hop and names its failures")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${TLSRELAY_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION mail)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# CPack puts CPACK_PACKAGE_DESCRIPTION_SUMMARY first; this is the extended description.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "tlsrelay sits between a local MTA (Postfix, Sendmail, Exim) and its smarthosts.
It makes the TLS connection to the smarthost, relays each message in lockstep,
and names every failure (expired or incomplete certificate chain, stale CA
bundle, wrong clock, missing SNI, a middlebox that strips STARTTLS, an MTU
black hole, port 465/587 confusion, ...) in the 4xx reply the MTA queues the
message with, in per-message headers and in a JSON event log.")
# The runtime libraries (libssl3, libstdc++6, ...) come from dpkg-shlibdeps.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, ca-certificates")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "logrotate")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "postfix | mail-transport-agent, swaks")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${TLSRELAY_PACKAGING_DIR}/debian/postinst ${TLSRELAY_PACKAGING_DIR}/debian/prerm
    ${TLSRELAY_PACKAGING_DIR}/debian/postrm ${TLSRELAY_PACKAGING_DIR}/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
include(CPack)
