# Atlas project configuration, usable with the community edition of the
# Atlas CLI. The migrations are generated from the Ent schemas by
# `make migration NAME=...` (the RLS statements are written by mtdb's own
# generator, which Atlas cannot do), so the envs below only apply, inspect
# and validate the directory:
#
#   atlas migrate apply  --env local
#   atlas migrate status --env local
#   atlas migrate validate --env ci
#
# Each env needs a dev database (an empty one Atlas may use freely) for
# `migrate validate`, `lint` and `diff`.

locals {
  default_url = "postgres://postgres@127.0.0.1:5432/mtdb?sslmode=disable"
  default_dev = "postgres://postgres@127.0.0.1:5432/mtdb_dev?sslmode=disable"
}

env "local" {
  url = getenv("DATABASE_URL") != "" ? getenv("DATABASE_URL") : local.default_url
  dev = getenv("DEV_DATABASE_URL") != "" ? getenv("DEV_DATABASE_URL") : local.default_dev
  migration {
    dir = "file://migrations"
  }
}

env "ci" {
  url = getenv("DATABASE_URL") != "" ? getenv("DATABASE_URL") : local.default_url
  dev = getenv("DEV_DATABASE_URL") != "" ? getenv("DEV_DATABASE_URL") : local.default_dev
  migration {
    dir = "file://migrations"
  }
}
