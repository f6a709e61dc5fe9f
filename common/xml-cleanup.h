/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Cleanup helpers for libxml2 objects. */
#ifndef FERRY_COMMON_XML_CLEANUP_H
#define FERRY_COMMON_XML_CLEANUP_H

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>

#include "cleanup.h"

FERRY_DEFINE_CLEANUP_FUNC(xmlDoc, xmlFreeDoc)
FERRY_DEFINE_CLEANUP_FUNC(xmlXPathContext, xmlXPathFreeContext)
FERRY_DEFINE_CLEANUP_FUNC(xmlXPathObject, xmlXPathFreeObject)
FERRY_DEFINE_CLEANUP_FUNC(xmlChar, xmlFree)

#endif
