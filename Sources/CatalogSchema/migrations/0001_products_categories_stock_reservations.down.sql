DROP TABLE reservation_lines;
DROP TABLE reservations;
DROP TRIGGER stock_movements_insert_only ON stock_movements;
DROP FUNCTION stock_movements_insert_only();
DROP TABLE stock_movements;
DROP TABLE stock;
DROP TABLE locations;
DROP TABLE products;
DROP TABLE categories;