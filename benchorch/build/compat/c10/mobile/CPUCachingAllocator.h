// benchorch compatibility header: c10/mobile/CPUCachingAllocator.h.
//
// Debian's libc10.so (1.13.1) exports c10::CPUCachingAllocator and
// c10::WithCPUCachingAllocatorGuard but its -dev package leaves this header
// out. We declare the same two classes so speed_benchmark_torch.cc links
// against the library's definitions. The object is created on the stack and
// destroyed by the library's destructor, so the declaration must keep the
// library's layout: a vtable pointer followed by one flat_hash_map member
// (the static members live in the library). Nothing here is implemented.
#pragma once

#include <cstddef>
#include <mutex>

#include <c10/macros/Export.h>
#include <c10/util/SmallVector.h>
#include <c10/util/flat_hash_map.h>

namespace c10 {

class C10_API CPUCachingAllocator {
 public:
  static void record_free(void* ptr);
  virtual ~CPUCachingAllocator();
  virtual void* allocate(const size_t bytes);
  virtual void free(void* ptr);

 private:
  void free_cached();

 protected:
  // size -> cached free blocks; same type and position as in the library.
  ska::flat_hash_map<size_t, c10::SmallVector<void*, 16>> available_map_;
  static ska::flat_hash_map<void*, size_t> allocation_map_;
  static std::mutex mutex_;
};

class C10_API WithCPUCachingAllocatorGuard {
 public:
  explicit WithCPUCachingAllocatorGuard(CPUCachingAllocator* allocator);
  ~WithCPUCachingAllocatorGuard();

 private:
  CPUCachingAllocator* prev_caching_allocator_ptr_{nullptr};
};

}  // namespace c10
