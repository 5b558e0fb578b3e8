// Routes as data: an HTTP method and a path pattern map to a handler, and
// adding a route is one row. A pattern is a path whose segments are literals
// or "{name}" placeholders that match any one (percent-decoded) segment; the
// first row whose method and pattern both match wins, so a "*" row placed
// after the rows of a path answers for the methods they do not take.
//
// Thread-safety: tables are constant; matching only reads.
#ifndef CAIRN_SERVER_ROUTE_TABLE_H_
#define CAIRN_SERVER_ROUTE_TABLE_H_

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/http_server.h"

namespace cairn {

// Who may call a route. kOpen routes (the banner and the probes) answer
// without a key; kWrite routes refuse a read-only key with 403.
enum class Access { kOpen, kRead, kWrite };

// The placeholders of a matched pattern, as views into the request's
// segments: valid while the request is.
class PathParams {
 public:
  // The segment matched by "{name}"; empty if the pattern has none.
  std::string_view Get(std::string_view name) const;

 private:
  friend bool MatchPath(std::string_view pattern, const std::vector<std::string>& segments,
                        PathParams* params);
  std::vector<std::pair<std::string_view, std::string_view>> values_;
};

template <typename Handler>
struct Route {
  std::string_view method;   // "GET", ..., or "*" for any method
  std::string_view pattern;  // "/collections/{name}/points/{id}"
  Access access;
  Handler handler;
  std::string_view label = {};  // the metrics label; empty: the pattern
  std::string_view metrics_label() const { return label.empty() ? pattern : label; }
};

// True when `pattern` has as many segments as the path and each literal
// equals its segment; then *params holds the placeholders.
bool MatchPath(std::string_view pattern, const std::vector<std::string>& segments,
               PathParams* params);

// The first route taking the request's method and path, or nullptr.
template <typename Handler>
const Route<Handler>* FindRoute(std::span<const Route<Handler>> routes, const HttpRequest& r,
                                PathParams* params) {
  for (const Route<Handler>& route : routes) {
    if ((route.method == "*" || route.method == r.method) &&
        MatchPath(route.pattern, r.segments, params)) {
      return &route;
    }
  }
  return nullptr;
}

}  // namespace cairn

#endif  // CAIRN_SERVER_ROUTE_TABLE_H_
