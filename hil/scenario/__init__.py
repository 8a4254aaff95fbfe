"""What a run is: scenarios, vehicles and sensors (:mod:`.config`), their dispersions
(:mod:`.dispersions`) and fault declarations (:mod:`.faults`), and the shipped files
(``data/``: scenarios, vehicles, sensors, benches, campaigns)."""
