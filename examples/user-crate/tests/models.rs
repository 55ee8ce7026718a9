//! The shop's models, as a user writes them.

use racekit::sync::{thread, Arc};
use shop::Inventory;

#[test]
fn the_last_item_is_sold_once() {
    racekit::check(|| {
        let inventory = Arc::new(Inventory::new(1));
        let buyer = {
            let inventory = inventory.clone();
            thread::spawn(move || inventory.take())
        };
        let mine = inventory.take();
        let theirs = buyer.join().unwrap();
        assert!(mine ^ theirs, "exactly one buyer gets the last item");
        assert_eq!(inventory.left(), 0);
    });
}
