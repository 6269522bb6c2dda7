//! The shipped shop config has valid business hours.

#[test]
fn the_shipped_shop_config_has_valid_business_hours() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/shop.toml");
    let hours = hours::BusinessHours::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
    // Christmas Eve 2026, 10:00 in Budapest (09:00 UTC): a holiday.
    assert!(!hours.is_open(1_798_102_800_000));
}
