package results

import (
	"fmt"

	rdb "github.com/c-bata/goptuna/rdb.v2"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Goptuna returns goptuna's storage (rdb.v2) of the study tables in this
// database, over the database's own connections: a reader such as the
// report opens the database once and reads goptuna's trials through
// goptuna's storage interface. It creates and migrates nothing; a database
// opened with OpenReadOnly stays read-only. Closing db closes it.
func (db *DB) Goptuna() (*rdb.Storage, error) {
	var d gorm.Dialector = sqlite.Dialector{Conn: db.sql}
	if db.dialect == dialectPostgres {
		d = postgres.New(postgres.Config{Conn: db.sql})
	}
	g, err := gorm.Open(d, &gorm.Config{Logger: logger.Default.LogMode(logger.Silent)})
	if err != nil {
		return nil, fmt.Errorf("results: goptuna storage of %s: %w", db.name, err)
	}
	return rdb.NewStorage(g), nil
}
