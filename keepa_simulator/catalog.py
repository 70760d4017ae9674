"""Word lists and generators for plausible titles, ASINs, images, categories and sellers."""

from __future__ import annotations

import random
import string

BOOKS = 283155
MOVIES = 2625373011
MUSIC = 5174
VIDEO_GAMES = 468642
TOYS = 165793011

ROOT_NAMES = {
    BOOKS: "Books",
    MOVIES: "Movies & TV",
    MUSIC: "CDs & Vinyl",
    VIDEO_GAMES: "Video Games",
    TOYS: "Toys & Games",
}

# Share of the catalogue per root category; Books first and the majority (the app's query is
# for used books).
ROOT_WEIGHTS = ((BOOKS, 70), (MOVIES, 10), (MUSIC, 8), (VIDEO_GAMES, 6), (TOYS, 6))

# Sub-categories (id, name) per root. Books sit under "Subjects" (1000) as on Amazon.
SUBCATEGORIES: dict[int, tuple[tuple[int, str], ...]] = {
    BOOKS: (
        (1, "Arts & Photography"),
        (2, "Biographies & Memoirs"),
        (3, "Business & Money"),
        (4, "Children's Books"),
        (5, "Computers & Technology"),
        (6, "Cookbooks, Food & Wine"),
        (9, "History"),
        (10, "Health, Fitness & Dieting"),
        (17, "Literature & Fiction"),
        (18, "Mystery, Thriller & Suspense"),
        (22, "Religion & Spirituality"),
        (25, "Science Fiction & Fantasy"),
        (75, "Science & Math"),
        (173507, "Medical Books"),
        (8975347011, "Education & Teaching"),
    ),
    MOVIES: (
        (2649512011, "Movies"),
        (2649513011, "TV"),
        (2650363011, "Blu-ray"),
        (2650364011, "DVD"),
        (2625374011, "Genre for Featured Categories"),
    ),
    MUSIC: (
        (40, "Rock"),
        (34, "Jazz"),
        (85, "Classical"),
        (16, "Country"),
        (37, "Pop"),
        (31, "Blues"),
    ),
    VIDEO_GAMES: (
        (6427814011, "PlayStation 4"),
        (20972781011, "PlayStation 5"),
        (6469269011, "Xbox One"),
        (16227128011, "Nintendo Switch"),
        (229575, "PC"),
    ),
    TOYS: (
        (166057011, "Building Toys"),
        (166220011, "Puzzles"),
        (166359011, "Games"),
        (166461011, "Stuffed Animals & Plush Toys"),
        (166027011, "Arts & Crafts"),
    ),
}
SUBJECTS = 1000

ADJECTIVES = [
    "Silent",
    "Hidden",
    "Broken",
    "Golden",
    "Last",
    "Lost",
    "Secret",
    "Wild",
    "Bright",
    "Dark",
    "Quiet",
    "Burning",
    "Frozen",
    "Crimson",
    "Distant",
    "Ancient",
    "Endless",
    "Gentle",
    "Hollow",
    "Iron",
    "Little",
    "Midnight",
    "Northern",
    "Painted",
    "Restless",
    "Scarlet",
    "Shattered",
    "Stolen",
    "Sudden",
    "Velvet",
    "Wandering",
    "Winter",
    "Summer",
    "Electric",
    "Forgotten",
    "Invisible",
    "Radiant",
]
NOUNS = [
    "River",
    "Garden",
    "House",
    "Mountain",
    "City",
    "Shadow",
    "Storm",
    "Heart",
    "Ocean",
    "Road",
    "Kingdom",
    "Harbor",
    "Forest",
    "Island",
    "Winter",
    "Letter",
    "Promise",
    "Bridge",
    "Lantern",
    "Mirror",
    "Orchard",
    "Valley",
    "Tower",
    "Window",
    "Engine",
    "Compass",
    "Crown",
    "Desert",
    "Feather",
    "Fire",
    "Journey",
    "Meadow",
    "Moon",
    "Signal",
    "Station",
    "Voyage",
    "Witness",
    "Empire",
    "Season",
    "Harvest",
]
NAMES = [
    "Eleanor",
    "Marcus",
    "Clara",
    "Julian",
    "Hazel",
    "Theo",
    "Iris",
    "Silas",
    "Nora",
    "Felix",
    "Ada",
    "Hugo",
    "Vera",
    "Oscar",
    "Mabel",
    "Ezra",
    "Lucia",
    "Tobias",
    "Greta",
    "Milo",
]
SURNAMES = [
    "Whitaker",
    "Delacroix",
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Castellano",
    "Brennan",
    "Hargrove",
    "Nakamura",
    "Sorensen",
    "Abernathy",
    "Kowalski",
    "Fairbanks",
    "Montgomery",
    "Petrov",
    "Quinlan",
    "Rasmussen",
    "Thornton",
    "Valdez",
    "Winslow",
]
FIELDS = [
    "Organic Chemistry",
    "Financial Accounting",
    "Abnormal Psychology",
    "Microeconomics",
    "Human Anatomy",
    "Calculus",
    "Criminal Justice",
    "Nursing Pharmacology",
    "Marketing Management",
    "Linear Algebra",
    "Biology",
    "World History",
    "Sociology",
    "Statistics",
    "Physics",
    "Public Speaking",
    "Corporate Finance",
    "Operations Management",
    "Medical Terminology",
    "Human Resource Management",
    "Data Structures",
    "Cell Biology",
    "Macroeconomics",
    "Child Development",
    "Environmental Science",
    "Business Law",
]
SUBTITLES = [
    "Core Concepts",
    "A Practical Guide",
    "Principles and Applications",
    "An Introduction",
    "Theory and Practice",
    "A Global Perspective",
    "Concepts and Connections",
    "A Visual Approach",
    "Clinical Applications",
    "Making Connections",
]
SERIES = [
    "Pearson Series in Finance",
    "Mindtap Course List",
    "McGraw-Hill Education",
    "Wiley Series",
    "Cengage Advantage Books",
    "Oxford Handbooks",
    "Norton Critical Editions",
]
EDITIONS = (
    "2nd Edition",
    "3rd Edition",
    "4th Edition",
    "5th Edition",
    "7th Edition",
    "10th Edition",
)
PLATFORMS = ("PlayStation 4", "PlayStation 5", "Xbox One", "Nintendo Switch", "PC")
TOY_BRANDS = ("LEGO", "Melissa & Doug", "Ravensburger", "Hasbro Gaming", "Mattel", "Playmobil")
TOY_KINDS = (
    "Building Set",
    "Jigsaw Puzzle",
    "Board Game",
    "Plush Toy",
    "Craft Kit",
    "Train Set",
)
BANDS = [
    "The Velvet Orchards",
    "Northern Signal",
    "Midnight Harbor",
    "Iron Lantern",
    "The Wandering Kind",
    "Scarlet Meadow",
    "Electric Compass",
    "Quiet Empire",
]
BINDINGS = ("Paperback", "Hardcover", "Mass Market Paperback", "Spiral-bound")

SELLER_FIRST = [
    "Better World",
    "Thrift",
    "Book Depot",
    "Half Price",
    "Second Story",
    "Hippo",
    "Cobblestone",
    "Owl Tree",
    "Riverbend",
    "Blue Heron",
    "Red Fox",
    "Bargain",
    "Campus",
    "Lighthouse",
    "Maple Leaf",
    "Silver Lining",
    "Old Town",
    "Harbor Light",
    "Prairie",
    "Granite State",
    "Sunrise",
    "Golden Gate",
    "Liberty",
    "Evergreen",
    "Nomad",
    "Paper Trail",
    "Library Sale",
    "Kingfisher",
    "Northstar",
    "Bluebird",
]
SELLER_LAST = [
    "Books",
    "Books Inc",
    "Book Exchange",
    "Media",
    "Media Outlet",
    "Textbooks",
    "Discount Books",
    "Books & Media",
    "Book Store",
    "Goods",
    "Outlet",
    "Resale",
    "Trading Co",
]

USED_COMMENTS = (
    "Book is in Used-Good condition. Pages and cover are clean and intact. Used items may not "
    "include supplementary materials such as CDs or access codes. May show signs of minor shelf "
    "wear and contain limited notes and highlighting.",
    "Pages are clean, spine is tight. Ships fast from our warehouse.",
    "Former library book with the usual stamps and stickers. Binding is solid.",
    "Light wear to the cover, some highlighting inside. Good reading copy.",
    "Like new: unread, crisp pages, no marks.",
    "Acceptable: heavy wear, water stain on the bottom edge, all pages present.",
)

AMAZON_SELLER_ID = "ATVPDKIKX0DER"
WAREHOUSE_SELLER_ID = "A2L77EE7U53NWQ"

_ID_CHARS = string.ascii_uppercase + string.digits
_IMAGE_CHARS = string.ascii_letters + string.digits


def pick_root(rng: random.Random) -> int:
    total = sum(weight for _, weight in ROOT_WEIGHTS)
    roll = rng.random() * total
    for root, weight in ROOT_WEIGHTS:
        roll -= weight
        if roll < 0:
            return root
    return BOOKS


def make_asin(rng: random.Random, root: int) -> str:
    if root == BOOKS and rng.random() < 0.85:
        # ISBN-10 shaped, with its real check digit.
        digits = [rng.randrange(10) for _ in range(9)]
        check = (11 - sum((10 - i) * d for i, d in enumerate(digits)) % 11) % 11
        return "".join(map(str, digits)) + ("X" if check == 10 else str(check))
    return "B0" + "".join(rng.choice(_ID_CHARS) for _ in range(8))


def make_image(rng: random.Random) -> str:
    body = "".join(rng.choice(_IMAGE_CHARS) for _ in range(9))
    return f"{rng.choice('45678')}{body}L.jpg"


def make_seller_id(rng: random.Random) -> str:
    return "A" + "".join(rng.choice(_ID_CHARS) for _ in range(rng.choice((12, 13))))


def make_seller_name(rng: random.Random) -> str:
    return f"{rng.choice(SELLER_FIRST)} {rng.choice(SELLER_LAST)}"


def make_author(rng: random.Random) -> str:
    return f"{rng.choice(SURNAMES)}, {rng.choice(NAMES)}"


def make_title(rng: random.Random, root: int) -> str:
    adj, noun = rng.choice(ADJECTIVES), rng.choice(NOUNS)
    if root == BOOKS:
        kind = rng.random()
        if kind < 0.35:
            field = rng.choice(FIELDS)
            title = f"{field}: {rng.choice(SUBTITLES)}"
            if rng.random() < 0.5:
                title += f" ({rng.choice(SERIES)})"
            if rng.random() < 0.4:
                title += f", {rng.choice(EDITIONS)}"
            return title
        if kind < 0.55:
            return f"The {adj} {noun}: A Novel"
        if kind < 0.7:
            return (
                f"{rng.choice(('Fundamentals', 'Handbook', 'Essentials'))} of {rng.choice(FIELDS)}"
            )
        if kind < 0.85:
            return f"The {noun} of {rng.choice(NAMES)} {rng.choice(SURNAMES)}"
        series = f"{rng.choice(('The', 'A'))} {rng.choice(NOUNS)} Series"
        return f"{adj} {noun} ({series}, Book {rng.randint(1, 9)})"
    if root == MOVIES:
        fmt = rng.choice(("[Blu-ray]", "(DVD)", "[4K UHD]", "- The Complete Series (DVD)"))
        return f"The {adj} {noun} {fmt}"
    if root == MUSIC:
        fmt = rng.choice(("(Audio CD)", "[Vinyl LP]", "(Remastered)"))
        return f"{adj} {noun} by {rng.choice(BANDS)} {fmt}"
    if root == VIDEO_GAMES:
        return f"{adj} {noun} {rng.randint(2, 5)} - {rng.choice(PLATFORMS)}"
    pieces = rng.choice((24, 100, 250, 500, 1000, 1500))
    return f"{rng.choice(TOY_BRANDS)} {adj} {noun} {rng.choice(TOY_KINDS)}, {pieces} Pieces"
