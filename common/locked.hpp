// A reference to an object that holds the object's mutex for as long as it lives: the way
// into state that several threads share (the relay's telemetry). Keep it for one
// expression or one short block; never across a co_await, and never while asking for
// another Locked of the same mutex (std::mutex does not nest).
#pragma once

#include <mutex>

namespace tlsrelay {

template <class T>
class Locked {
 public:
  Locked(std::mutex& mutex, T& object) : lock_(mutex), object_(&object) {}

  T* operator->() const { return object_; }
  T& operator*() const { return *object_; }

 private:
  std::unique_lock<std::mutex> lock_;
  T* object_;
};

}  // namespace tlsrelay
