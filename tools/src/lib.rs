pub const CATALOG_VERSION: u32 = 1;
