//! Rows for PostgreSQL's binary `COPY` (the builder writes events with it).

/// Rows in `COPY`'s binary format: a header, then per row its field count and each field as
/// a length (-1: NULL) and its bytes (big-endian numbers), then a trailer.
pub(super) struct CopyRows(Vec<u8>);

impl CopyRows {
    pub(super) fn new(capacity: usize) -> Self {
        let mut b = Vec::with_capacity(capacity + 19);
        b.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        b.extend_from_slice(&0i32.to_be_bytes()); // flags
        b.extend_from_slice(&0i32.to_be_bytes()); // header extension
        CopyRows(b)
    }
    pub(super) fn row(&mut self, fields: i16) {
        self.0.extend_from_slice(&fields.to_be_bytes());
    }
    pub(super) fn field(&mut self, bytes: Option<&[u8]>) {
        match bytes {
            None => self.0.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(b) => {
                self.0.extend_from_slice(&(b.len() as i32).to_be_bytes());
                self.0.extend_from_slice(b);
            }
        }
    }
    pub(super) fn text(&mut self, s: Option<&str>) {
        self.field(s.map(str::as_bytes));
    }
    pub(super) fn int8(&mut self, n: Option<i64>) {
        self.field(n.map(i64::to_be_bytes).as_ref().map(|b| &b[..]));
    }
    pub(super) fn int4(&mut self, n: i32) {
        self.field(Some(&n.to_be_bytes()));
    }
    pub(super) fn finish(mut self) -> Vec<u8> {
        self.0.extend_from_slice(&(-1i16).to_be_bytes());
        self.0
    }
}
