//! A small shop: the kind of concurrent code a user models with racekit.
//!
//! Written against `racekit::sync` instead of `std::sync`, so that `racekit::check` can run
//! it under loom, shuttle or real threads.

use racekit::sync::Mutex;

/// Stock of one item, shared by concurrent buyers.
pub struct Inventory {
    stock: Mutex<u32>,
}

impl Inventory {
    /// An inventory holding `stock` items.
    pub fn new(stock: u32) -> Inventory {
        Inventory { stock: Mutex::new(stock) }
    }

    /// Takes one item if any is left; check and take happen under one lock, so two buyers
    /// can never oversell.
    pub fn take(&self) -> bool {
        let mut stock = self.stock.lock();
        if *stock > 0 {
            *stock -= 1;
            true
        } else {
            false
        }
    }

    /// Items left.
    pub fn left(&self) -> u32 {
        *self.stock.lock()
    }
}

pub mod visits;
