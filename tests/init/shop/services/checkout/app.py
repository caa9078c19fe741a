# checkout service
