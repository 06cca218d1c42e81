"""Word lists for plausible people, places and teams."""

GIVEN_NAMES = (
    "Aiden Alex Amara Anna Arjun Astrid Ben Bianca Carlos Chen Chloe Daniel Dmitri Elena Emma Farah "
    "Felix Fatima Gabriel Grace Hannah Hiroshi Ines Isaac Jamal Jana Javier Jin Julia Kai Karin Lars "
    "Leila Liam Lucia Luis Maja Marco Maria Mateo Mei Mohammed Nadia Noah Nora Olga Oliver Omar Priya "
    "Rafael Rania Ravi Rosa Sam Sara Sean Sofia Sven Tariq Thomas Valentina Victor Wei Yara Yusuf Zoe "
    "Zoltán Ágnes Björn Chloé Jürgen Siobhán"
).split()
SURNAMES = (
    "Adams Ahmed Alvarez Andersen Bauer Bianchi Brown Chen Clarke Costa Dubois Eriksson Fischer Garcia "
    "Gupta Hansen Hernandez Ito Jansen Johnson Kim Kowalski Kumar Larsen Lee Lopez Martin Meyer Moreau "
    "Müller Nakamura Nguyen Novak Okafor Olsen Patel Petrov Rossi Santos Schmidt Silva Singh Smith "
    "Suzuki Tanaka Taylor Thompson Wagner Walker Wang Weber Williams Wilson Wright Yamamoto Zhang "
    "O'Brien O'Neill D'Angelo García Núñez"
).split()
TITLES = (
    "Account Executive",
    "Sales Manager",
    "Software Engineer",
    "Senior Software Engineer",
    "Product Manager",
    "Marketing Specialist",
    "HR Business Partner",
    "Financial Analyst",
    "Controller",
    "Support Engineer",
    "Customer Success Manager",
    "Data Scientist",
    "Designer",
    "Office Manager",
    "Legal Counsel",
    "Operations Lead",
    "Recruiter",
    "Solutions Architect",
    "Team Lead",
    "Director",
)
DEPARTMENTS = (
    "Sales",
    "Engineering",
    "Marketing",
    "Finance",
    "Human Resources",
    "Support",
    "Operations",
    "Legal",
    "Product",
    "Research & Development",
    "Customer Success",
    "IT",
)
OFFICES = (
    ("Redmond", "WA", "98052", "United States", "+1 425 555"),
    ("New York", "NY", "10001", "United States", "+1 212 555"),
    ("London", None, "EC2A 4BX", "United Kingdom", "+44 20 7946"),
    ("Berlin", None, "10115", "Germany", "+49 30 9018"),
    ("Paris", None, "75002", "France", "+33 1 7091"),
    ("Amsterdam", None, "1017 CE", "Netherlands", "+31 20 794"),
    ("Madrid", None, "28013", "Spain", "+34 91 123"),
    ("Tokyo", None, "100-0005", "Japan", "+81 3 4578"),
    ("Sydney", "NSW", "2000", "Australia", "+61 2 5550"),
    ("Toronto", "ON", "M5H 2N2", "Canada", "+1 416 555"),
)
STREETS = (
    "Main Street",
    "Market Street",
    "High Street",
    "Friedrichstraße",
    "Rue de Rivoli",
    "Keizersgracht",
    "Gran Vía",
    "Queen Street",
    "King Street",
    "Harbour Road",
    "Station Road",
    "Elm Avenue",
)
PROJECTS = (
    "Apollo",
    "Borealis",
    "Cobalt",
    "Delta Force",
    "Everest",
    "Falcon",
    "Granite",
    "Horizon",
    "Iris",
    "Juniper",
    "Kestrel",
    "Lighthouse",
    "Meridian",
    "Nimbus",
    "O'Hare Relocation",
    "Polaris",
    "Quartz",
    "Redwood",
)
LANGUAGES = ("en-US", "en-GB", "de-DE", "fr-FR", "nl-NL", "es-ES", "ja-JP")
