"""Plans: the catalogue of plans, their quotas, and what each user has used against them."""
