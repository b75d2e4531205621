// The page at GET /: pick a model, drop an image, upload or record audio, type text, and see each
// head's prediction as bars. Plain HTML and JavaScript held in the binary (no CDN: it works
// offline); it calls the same JSON API as any client.
#pragma once

#include "mmfuse/serve/handlers.h"

namespace mmfuse::serve {

Reply web_page();

}  // namespace mmfuse::serve
