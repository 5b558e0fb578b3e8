// Early-return helpers for absl::Status / absl::StatusOr, used at every module
// boundary (docs/ARCHITECTURE.md, "Conventions").
#ifndef CAIRN_COMMON_STATUS_MACROS_H_
#define CAIRN_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define CAIRN_CONCAT_INNER_(a, b) a##b
#define CAIRN_CONCAT_(a, b) CAIRN_CONCAT_INNER_(a, b)

#define CAIRN_RETURN_IF_ERROR(expr)                 \
  do {                                              \
    ::absl::Status cairn_status_ = (expr);          \
    if (!cairn_status_.ok()) return cairn_status_;  \
  } while (0)

#define CAIRN_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()

// CAIRN_ASSIGN_OR_RETURN(auto x, Foo()); declares x from a StatusOr or returns its error.
#define CAIRN_ASSIGN_OR_RETURN(lhs, expr) \
  CAIRN_ASSIGN_OR_RETURN_IMPL_(CAIRN_CONCAT_(cairn_statusor_, __LINE__), lhs, expr)

#endif  // CAIRN_COMMON_STATUS_MACROS_H_
