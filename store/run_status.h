// The one home of what a run's status means.

#ifndef FEEDLOOP_STORE_RUN_STATUS_H_
#define FEEDLOOP_STORE_RUN_STATUS_H_

#include "feedloop/v1/types.pb.h"

namespace feedloop::store {

// The run plays no more rounds unless it is resumed: DONE, FAILED or
// STOPPED. Watchers and followers stop here.
inline bool IsEnded(v1::RunStatus s) {
  return s == v1::DONE || s == v1::FAILED || s == v1::STOPPED;
}

// The run has nothing left to play, even resumed: DONE, or FAILED (a
// STOPPED run is resumed by continuing its experiment).
inline bool IsFinished(v1::RunStatus s) { return s == v1::DONE || s == v1::FAILED; }

}  // namespace feedloop::store

#endif  // FEEDLOOP_STORE_RUN_STATUS_H_
