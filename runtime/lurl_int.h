/*
** lurl_int.h -- every internal header of runtime/, for the C harnesses
** (spec/fuzz) that reach into lurl's insides.  lurl's own C files include
** the headers of the files they use, one per file (docs/internals.md);
** nothing here is installed: the public interface is include/lurl.h.
*/
#ifndef LURL_INT_H
#define LURL_INT_H

#include "crypto.h"
#include "decode.h"
#include "engine.h"
#include "errors.h"
#include "handle.h"
#include "jsonnum.h"
#include "limit.h"
#include "luac.h"
#include "mime.h"
#include "policy.h"
#include "redact.h"
#include "request.h"
#include "response.h"
#include "share.h"
#include "text.h"
#include "transfer.h"

#endif /* LURL_INT_H */
