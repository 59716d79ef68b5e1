use super::*;

#[test]
fn worked_example() {
    let mut out = BytesMut::new();
    encode_client("Ping", 0x0102, 0x1122334455667788, &[0xAA, 0xBB], &mut out).unwrap();
    assert_eq!(out.len(), 21);
}
