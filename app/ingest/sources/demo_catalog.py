"""Vocabulary of the built-in demo shop: category tree, brands, product words, review phrases.

Brand names are invented so the demo never implies anything about a real company.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Leaf:
    """A bottom-level category: its path, the product nouns sold there and a price band."""

    path: tuple[str, str, str]
    nouns: tuple[str, ...]
    price_low: float
    price_high: float


def _leaves(
    root: str, spec: dict[str, list[tuple[str, tuple[str, ...], float, float]]]
) -> list[Leaf]:
    return [
        Leaf((root, middle, name), nouns, low, high)
        for middle, leaves in spec.items()
        for name, nouns, low, high in leaves
    ]


LEAVES: tuple[Leaf, ...] = tuple(
    _leaves(
        "Electronics",
        {
            "Audio": [
                ("Headphones", ("Over-Ear Headphones", "Noise-Cancelling Headphones"), 39, 349),
                ("Bluetooth Speakers", ("Portable Speaker", "Waterproof Speaker"), 25, 249),
            ],
            "Computer Accessories": [
                ("Keyboards", ("Mechanical Keyboard", "Wireless Keyboard"), 29, 189),
                ("Monitors", ("27-inch Monitor", "Ultrawide Monitor"), 149, 799),
            ],
            "Phone Accessories": [
                ("Chargers", ("USB-C Charger", "Wireless Charging Pad"), 12, 69),
                ("Phone Cases", ("Slim Phone Case", "Rugged Phone Case"), 9, 49),
            ],
        },
    )
    + _leaves(
        "Home & Kitchen",
        {
            "Cookware": [
                ("Frying Pans", ("Non-Stick Frying Pan", "Cast Iron Skillet"), 19, 129),
                ("Saucepans", ("Stainless Saucepan", "Saucepan Set"), 24, 189),
            ],
            "Small Appliances": [
                ("Coffee Makers", ("Espresso Machine", "Drip Coffee Maker"), 39, 599),
                ("Blenders", ("High-Speed Blender", "Personal Blender"), 29, 299),
            ],
            "Bedding": [("Duvet Covers", ("Cotton Duvet Cover", "Linen Duvet Cover"), 35, 179)],
        },
    )
    + _leaves(
        "Beauty",
        {
            "Skin Care": [
                ("Moisturizers", ("Daily Moisturizer", "Night Cream"), 9, 89),
                ("Cleansers", ("Foaming Cleanser", "Gentle Face Wash"), 7, 45),
            ],
            "Makeup": [
                ("Lipstick", ("Matte Lipstick", "Satin Lipstick"), 6, 39),
                ("Mascara", ("Volumizing Mascara", "Waterproof Mascara"), 6, 32),
            ],
            "Fragrance": [
                ("Eau de Parfum", ("Floral Eau de Parfum", "Woody Eau de Parfum"), 29, 159)
            ],
            "Hair Care": [("Shampoo", ("Repair Shampoo", "Volume Shampoo"), 5, 35)],
        },
    )
    + _leaves(
        "Fashion",
        {
            "Women's Clothing": [
                ("Dresses", ("Wrap Dress", "Midi Dress"), 29, 159),
                ("Knitwear", ("Merino Sweater", "Cardigan"), 35, 149),
            ],
            "Men's Clothing": [
                ("Shirts", ("Oxford Shirt", "Linen Shirt"), 25, 99),
                ("Jackets", ("Rain Jacket", "Quilted Jacket"), 59, 299),
            ],
            "Shoes": [("Sneakers", ("Running Sneakers", "Canvas Sneakers"), 39, 179)],
        },
    )
    + _leaves(
        "Sports & Outdoors",
        {
            "Fitness": [
                ("Yoga Mats", ("Non-Slip Yoga Mat", "Travel Yoga Mat"), 15, 99),
                ("Dumbbells", ("Adjustable Dumbbells", "Hex Dumbbell Pair"), 25, 349),
            ],
            "Camping": [
                ("Tents", ("2-Person Tent", "Family Tent"), 79, 499),
                ("Sleeping Bags", ("Down Sleeping Bag", "Summer Sleeping Bag"), 39, 299),
            ],
            "Cycling": [
                ("Bike Lights", ("Rechargeable Bike Light Set", "Rear Bike Light"), 12, 89)
            ],
        },
    )
    + _leaves(
        "Toys & Games",
        {
            "Building Toys": [
                ("Building Sets", ("Castle Building Set", "Space Station Set"), 15, 149)
            ],
            "Board Games": [
                ("Strategy Games", ("Strategy Board Game", "Trading Game"), 25, 89),
                ("Family Games", ("Party Game", "Cooperative Family Game"), 15, 49),
            ],
            "Puzzles": [("Jigsaw Puzzles", ("1000-Piece Puzzle", "Panorama Puzzle"), 12, 39)],
        },
    )
    + _leaves(
        "Books",
        {
            "Fiction": [
                ("Mystery & Thriller", ("Detective Novel", "Psychological Thriller"), 8, 28),
                ("Science Fiction", ("Space Opera Novel", "Dystopian Novel"), 8, 26),
            ],
            "Non-Fiction": [
                ("Cookbooks", ("Weeknight Cookbook", "Baking Cookbook"), 15, 45),
                ("Biographies", ("Sports Biography", "Explorer Biography"), 10, 35),
            ],
            "Children's Books": [
                ("Picture Books", ("Bedtime Picture Book", "Animal Picture Book"), 6, 22)
            ],
        },
    )
    + _leaves(
        "Garden & Outdoor",
        {
            "Gardening": [
                ("Plant Pots", ("Ceramic Plant Pot", "Self-Watering Planter"), 9, 79),
                ("Garden Tools", ("Pruning Shears", "Hand Trowel Set"), 12, 89),
            ],
            "Outdoor Living": [
                ("Garden Furniture", ("Folding Bistro Set", "Teak Garden Bench"), 89, 899),
                ("Barbecues", ("Charcoal Kettle Grill", "Gas Barbecue"), 69, 899),
            ],
        },
    )
)

BRANDS: dict[str, tuple[str, ...]] = {
    "Electronics": ("Voltera", "Sonique", "Kestrel Audio", "Pixelforge", "Nordwave"),
    "Home & Kitchen": ("Hearthly", "Copperleaf", "Brewster & Co", "Maison Alba", "Ovenry"),
    "Beauty": ("Lumiere Skin", "Petal & Pine", "Aurelie", "Dermaclar", "Velvetine"),
    "Fashion": ("Northloom", "Atelier Rue", "Common Thread", "Marlow & Finch", "Strideline"),
    "Sports & Outdoors": ("Summitcraft", "Trailborn", "Ironpeak", "Flowfit", "Cadence Cycle"),
    "Toys & Games": ("Brickwise", "Meeple House", "Tinkertown", "Puzzlewright", "Playfield"),
    "Books": ("Harbor Press", "Lantern Books", "Quillstone", "Blue Owl Publishing", "Northpage"),
    "Garden & Outdoor": ("Greenhaven", "Terracraft", "Fernwood", "Emberline", "Potting Shed Co"),
}

ADJECTIVES: dict[str, tuple[str, ...]] = {
    "Electronics": ("Wireless", "Compact", "Pro", "Ultra", "Smart"),
    "Home & Kitchen": ("Classic", "Premium", "Everyday", "Professional", "Compact"),
    "Beauty": ("Hydrating", "Radiant", "Sensitive", "Organic", "Long-Lasting"),
    "Fashion": ("Slim-Fit", "Relaxed", "Organic Cotton", "Recycled", "Classic"),
    "Sports & Outdoors": ("Lightweight", "All-Weather", "Pro", "Ultralight", "Trail"),
    "Toys & Games": ("Deluxe", "Award-Winning", "Classic", "Creative", "Junior"),
    "Books": ("Bestselling", "Illustrated", "Paperback", "Hardcover", "Anniversary Edition"),
    "Garden & Outdoor": ("Weatherproof", "Handmade", "Ergonomic", "Rustic", "Heavy-Duty"),
}

FEATURES: dict[str, tuple[str, ...]] = {
    "Electronics": (
        "Up to 30 hours of battery life.",
        "Pairs in seconds over Bluetooth 5.3.",
        "Two-year warranty included.",
        "Energy-efficient design.",
    ),
    "Home & Kitchen": (
        "Dishwasher safe.",
        "Works on all hobs, including induction.",
        "Easy to clean.",
        "Built to last for years of daily use.",
    ),
    "Beauty": (
        "Dermatologically tested.",
        "Free from parabens.",
        "Suitable for all skin types.",
        "Cruelty-free formula.",
    ),
    "Fashion": (
        "Machine washable.",
        "True to size.",
        "Breathable fabric.",
        "Made from responsibly sourced materials.",
    ),
    "Sports & Outdoors": (
        "Tested in harsh conditions.",
        "Packs down small.",
        "Non-slip grip.",
        "Backed by a lifetime guarantee.",
    ),
    "Toys & Games": (
        "Ages 8 and up.",
        "2 to 6 players.",
        "Hours of screen-free fun.",
        "Includes a storage box.",
    ),
    "Books": (
        "A gripping read from the first page.",
        "Over 300 pages.",
        "Includes a new foreword.",
        "Praised by critics.",
    ),
    "Garden & Outdoor": (
        "Frost resistant.",
        "Rust-proof finish.",
        "Assembles in minutes.",
        "Made from FSC-certified wood.",
    ),
}

# One flat attribute per department, so attribute filters have something realistic to use.
ATTRIBUTE_CHOICES: dict[str, tuple[str, tuple[str, ...]]] = {
    "Electronics": ("color", ("black", "white", "graphite", "blue")),
    "Home & Kitchen": ("material", ("stainless steel", "cast iron", "ceramic", "cotton")),
    "Beauty": ("size", ("30 ml", "50 ml", "100 ml", "200 ml")),
    "Fashion": ("color", ("navy", "black", "olive", "cream", "burgundy")),
    "Sports & Outdoors": ("color", ("orange", "green", "grey", "black")),
    "Toys & Games": ("age_range", ("3+", "6+", "8+", "12+")),
    "Books": ("format", ("paperback", "hardcover")),
    "Garden & Outdoor": ("material", ("terracotta", "teak", "steel", "recycled plastic")),
}

# Review text must agree with the stars: every positive phrase holds a word from
# POSITIVE_WORDS and none from NEGATIVE_WORDS, and vice versa (the tests check this).
POSITIVE_WORDS = frozenset({"love", "great", "excellent", "perfect", "recommend", "happy"})
NEGATIVE_WORDS = frozenset({"disappointed", "broke", "poor", "waste", "returned", "flimsy"})

REVIEW_PHRASES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # sentiment: (summaries, bodies); "{noun}" is replaced by the product noun.
    "positive": (
        ("Love it", "Great buy", "Excellent quality", "Perfect gift", "Really happy"),
        (
            "The {noun} is great and arrived quickly.",
            "Excellent value, would recommend.",
            "Exactly as described, I love the {noun}.",
            "Perfect fit for what I needed.",
            "Great quality, very happy with this {noun}.",
        ),
    ),
    "neutral": (
        ("It's okay", "Does the job", "Average", "Fine for the price"),
        (
            "The {noun} works, nothing special.",
            "Decent, though delivery was slow.",
            "It does what it says, no more.",
            "Okay overall but the packaging was damaged.",
        ),
    ),
    "negative": (
        ("Disappointed", "Poor quality", "Waste of money", "Returned it"),
        (
            "The {noun} broke after a week.",
            "Feels flimsy, I returned it.",
            "Poor finish, very disappointed.",
            "A waste of money, not as pictured.",
        ),
    ),
}
