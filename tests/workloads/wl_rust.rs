// wl_rust: a Rust program's allocations, for heaptop's tables.  Rust's
// standard library is compiled into the program, and its code makes every
// allocation (alloc::alloc, raw_vec, boxed): each block must still be
// charged to the line below that asked for it, and the functions' names
// read as Rust writes them.  The runtime calls pthread_getattr_np at start
// and in every new thread, where glibc allocates while it holds the
// thread's lock.  Live at exit (std::process::exit runs no destructors):
//
//   function                  what                             size  blocks
//   wl_rust::keep_numbers     Vec::<u32>::with_capacity(500)   2000     1
//   wl_rust::keep_boxes       three Box<[u8; 64]>               192     3
//   wl_rust::keep_text        String::with_capacity(100)        100     1
//   wl_rust::thread_numbers   Vec::<u64>::with_capacity(100)    800     1
//                             (in a thread of its own)
//
// (The thread's own bookkeeping is charged to main's spawn line.)  Each
// block's address is kept in a static, so the compiler cannot leave the
// allocation out.  Tests find the lines by the marker comments.
use std::sync::atomic::{AtomicUsize, Ordering};

static KEPT: [AtomicUsize; 6] = [
    AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0),
    AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0),
];

fn keep<T>(slot: usize, p: *const T) {
    KEPT[slot].store(p as usize, Ordering::SeqCst);
}

#[inline(never)]
fn keep_numbers() -> Vec<u32> {
    Vec::with_capacity(500) // @rs_vec
}

#[inline(never)]
fn keep_boxes() -> [Box<[u8; 64]>; 3] {
    [Box::new([1u8; 64]), Box::new([2u8; 64]), Box::new([3u8; 64])] // @rs_box
}

#[inline(never)]
fn keep_text() -> String {
    String::with_capacity(100) // @rs_string
}

#[inline(never)]
fn thread_numbers() -> Vec<u64> {
    Vec::with_capacity(100) // @rs_thread
}

fn main() {
    let numbers = keep_numbers();
    keep(0, numbers.as_ptr());
    let boxes = keep_boxes();
    for (i, b) in boxes.iter().enumerate() {
        keep(1 + i, &**b);
    }
    let text = keep_text();
    keep(4, text.as_ptr());
    let numbers2 = std::thread::spawn(thread_numbers).join().unwrap(); // @rs_spawn
    keep(5, numbers2.as_ptr());
    std::mem::forget((numbers, boxes, text, numbers2));
    std::process::exit(0);
}
